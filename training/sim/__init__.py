"""The Gymnasium environments over the simulator core (``simulator``): ``training.sim.env.FleetEnv`` (one fleet)
and ``training.sim.vector_env.FleetVectorEnv`` (a batch of fleets as one native vector env). They import
gymnasium, which the simulator core and the controller's Lambda package do not need."""
