"""One campaign run, step by step: validate, resolve the audience, filter, plan, send, write the history.

Each step is a plain function on a ``CampaignRun`` (no Airflow here): the DAG's tasks call them.
"""
