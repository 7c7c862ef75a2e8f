# Generated from proto/iamd/v1 by client/scripts/gen_protos.py; do not edit.
