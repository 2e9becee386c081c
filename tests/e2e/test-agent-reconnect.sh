#!/bin/sh
echo TODO; exit 1
