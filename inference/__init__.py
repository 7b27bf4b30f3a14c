"""Serving side of the RL auto-scaler: what a SageMaker real-time endpoint runs, and the same thing locally.

Packaged alone as ``code/`` of ``model.tar.gz`` (see ``artifact``), so it imports nothing of ours from outside
this package, and only relatively. Modules: ``features`` (the one featurizer) and ``actions`` (the action table),
shared with training; ``contract`` (request validation, response encoding), ``policy`` (the MLP, numpy forward
pass), ``artifact`` (package and load), ``shield`` (safety rules), ``metrics`` (EMF), ``errors`` (statuses and
the boundary), ``handler`` (the four SageMaker hooks) and ``serve`` (the local gunicorn endpoint).
"""
