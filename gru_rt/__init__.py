"""gru_rt: streaming GRU inference (development placeholder until the extension lands)."""
