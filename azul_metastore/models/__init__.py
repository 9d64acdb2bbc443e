"""Records with no I/O: Azul wire events, REST response models, index document shapes."""
