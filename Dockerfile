# The project's Airflow image: the official one (Python 3.11, the lock's), plus this project's package and
# what it imports, at the versions of our lock.
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /opt/wechat/
COPY --chown=airflow:0 plugins/wechat_campaigns /opt/wechat/plugins/wechat_campaigns
COPY --chown=airflow:0 wechat_sandbox /opt/wechat/wechat_sandbox

# The package with the dependencies pyproject.toml declares, pinned by constraints.txt; naming apache-airflow
# at the image's version keeps pip from moving it. tests/integration/test_image.py replays this line.
RUN pip install --no-cache-dir -c /opt/wechat/constraints.txt "apache-airflow==3.3.2" /opt/wechat
