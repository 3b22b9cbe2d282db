"""The rules of a campaign, free of Airflow and of I/O."""
