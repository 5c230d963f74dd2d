"""Forecaster: long tables series_id,timestamp,value in; per-series selected forecasts with intervals out."""
