#!/bin/sh
# version.sh - prints the virus scanner engine version (rollpilot simulator kit).
# The scanner does not support rolling upgrades: replacing it while the virtual server is
# online on this machine fails the virtual server (seed 003). Take it offline first.
echo "@PRODUCT@ @VERSION@"
