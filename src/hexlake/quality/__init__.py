"""Data-quality monitors: volume anomalies, schema drift, quarantine-rate spikes, freshness breaches."""
