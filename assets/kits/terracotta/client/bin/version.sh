#!/bin/sh
# version.sh - prints this kit's version (rollpilot simulator kit), like <kit>/server/bin/version.sh.
echo "@PRODUCT@ @VERSION@"
