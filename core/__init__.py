"""What every stage shares: typed configs, run folders and atomic writes, paths, the
prompt, protected spans, model loading, the built-in tiny model, the error family and the
decoding defaults. Depends on no stage package."""
