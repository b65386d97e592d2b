"""Key ceremonies: sensitive operations need three trusted people (DPS 5.1, 5.2.2)."""
