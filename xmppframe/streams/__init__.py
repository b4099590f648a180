"""The stream layer: c2s streams, their negotiation, TLS and SASL."""
