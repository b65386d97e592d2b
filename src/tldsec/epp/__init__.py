"""The EPP server (RFC 5730-5734, 5910): TLS framing, one dispatcher, one module per command.

``dispatch`` classifies, validates, authorizes and runs one frame; ``commands`` holds a
module per object and command; result codes live on the classes in ``errors``.
"""
