"""WeChat Official Account campaigns on Apache Airflow 3.

Layers (see DESIGN.md §2): ``domain`` is pure Python (no Airflow, no I/O); ``wechat`` and ``store`` are the
adapters (HTTP client, callback codec, SQL store); ``integration`` is the Airflow shell (hook, task
functions, plugin apps).
"""

__version__ = "0.1.0"
