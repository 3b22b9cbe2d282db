# The project's Airflow image: the official one, plus this project's package and the few libraries it adds.
FROM apache/airflow:3.3.2

USER airflow
COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /opt/wechat/
COPY --chown=airflow:0 plugins/wechat_campaigns /opt/wechat/plugins/wechat_campaigns
COPY --chown=airflow:0 wechat_sandbox /opt/wechat/wechat_sandbox

# Airflow and its dependencies come pinned with the image; add only what the image lacks, at the versions
# of our lock, and keep apache-airflow where the image has it.
RUN pip install --no-cache-dir -c /opt/wechat/constraints.txt \
        "apache-airflow==3.3.2" defusedxml tenacity tabulate psycopg2-binary \
 && pip install --no-cache-dir --no-deps /opt/wechat
