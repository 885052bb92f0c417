"""The in-step side of a pipeline step: load inputs, call the code, save outputs.

Runs inside every step process, so it imports only the standard library and the artifact store.
"""
