"""The shipped models: TFLite ensembles, their manifest and fitted stages, as package data.

The tracker finds this folder with importlib.resources (fkd.facetracker.default_models_dir).
"""
