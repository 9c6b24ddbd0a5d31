"""Entry B: the alert aggregator, its emit hooks, the ingest API and the alerts page."""
