"""From a calibrated probability to what the team does.

* :mod:`.health`: the 0-100 health score and the three warning levels;
* :mod:`.causes`: SHAP contributions grouped into price / service / needs
  change, reasons in plain words, the playbook action and the department;
* :mod:`.control`: the random control group;
* :mod:`.warning_list`: every customer once as of a date, sorted.
"""
