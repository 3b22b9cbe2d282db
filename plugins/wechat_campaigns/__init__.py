"""WeChat Official Account campaigns on Apache Airflow 3.

Layers (see docs/architecture.md, *Layers*): ``domain`` is pure Python (no Airflow, no I/O); ``wechat`` and
``store`` are the adapters (HTTP client, callback codec, SQL store); ``campaigns`` runs a campaign step by step
on them; ``integration`` is the Airflow shell (hook, task functions, plugin apps).
"""

__version__ = "0.1.0"
