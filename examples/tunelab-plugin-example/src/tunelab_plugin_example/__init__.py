"""An example tunelab plug-in: the model ``example-cnn`` and the dataset ``example-shapes``."""
