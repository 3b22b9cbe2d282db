"""The Airflow shell: hook, task functions and plugin apps. The only layer that imports Airflow."""
