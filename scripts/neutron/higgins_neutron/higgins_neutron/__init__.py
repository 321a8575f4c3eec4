"""Neutron server-side pieces for Higgins hosts: the ML2 mechanism driver `higgins` (bindings)."""
