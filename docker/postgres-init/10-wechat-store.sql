-- The campaign store lives in its own database beside Airflow's metadata database.
CREATE DATABASE wechat OWNER airflow;
