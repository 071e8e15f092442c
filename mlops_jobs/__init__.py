"""Code that runs inside the platform image: the platform's own jobs, configured only by the pipeline config."""
