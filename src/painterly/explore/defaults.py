"""The explore commands' defaults, in a module that imports no PyTorch: ``painterly explore``
builds its options and ``--help`` from it at once, and the library functions take the same.
"""

PAPER_CONTENT_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
NEURON_STEPS, NEURON_CHANNELS = 256, "0-7"
RECONSTRUCT_SIZE, RECONSTRUCT_STEPS = 192, 200
TRADEOFF_STYLE_WEIGHTS = (1000.0, 100.0, 10.0, 1.0)
