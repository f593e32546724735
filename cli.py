#!/usr/bin/env python3
"""Run mcu-toolkit from a checkout without installing it: python cli.py convert ..."""

from mcu_toolkit.cli import main

if __name__ == "__main__":
    main()
