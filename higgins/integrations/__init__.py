"""EDGE: the other OpenStack services (Glance, Neutron, Cinder) through openstacksdk."""
