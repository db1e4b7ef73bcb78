#!/usr/bin/env node
require("../dist/bin/lsns.cjs");
