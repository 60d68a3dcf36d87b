"""Running churnml in production.

* :mod:`.registry`: where models live (tracking URI, load any model URI, aliases);
* :mod:`.serving`: the scoring function other applications call, in process
  and over REST (the MLflow pyfunc, logged from :mod:`.pyfunc_model`);
* :mod:`.tracking`: every fit recorded in MLflow, its model registered (after every fit: :mod:`.hooks`);
* :mod:`.retrain`: the scheduled job (challenger vs champion, drift, the new list);
* :mod:`.spark`: the warning list on Spark for bases beyond one machine.
"""
