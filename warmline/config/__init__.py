"""Workflow configuration: the YAML file format, its validation and its frozen, typed model.

Load a configuration with `warmline.config.loader.load_config`; check files with `validate_paths`.
"""
