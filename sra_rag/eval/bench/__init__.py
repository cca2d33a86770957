"""The cost benches: prefill and decode time and peak memory per setting (`speed`), and index
building (`index_speed`)."""
