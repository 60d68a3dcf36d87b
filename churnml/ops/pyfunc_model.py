"""The code MLflow runs to load a logged ChurnModel ("models from code")."""

import mlflow

from churnml.ops.serving import ChurnPyfunc

mlflow.models.set_model(ChurnPyfunc())
