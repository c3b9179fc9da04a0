"""Roborock vacuums over miIO (python-miio), one ``RoborockVacuum`` per configured device."""
