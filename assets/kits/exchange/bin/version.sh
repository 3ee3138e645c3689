#!/bin/sh
# version.sh - prints the installed Exchange build (rollpilot simulator kit).
echo "@PRODUCT@ Version @VERSION@"
