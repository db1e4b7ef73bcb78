#!/usr/bin/env node
require("../dist/bin/unshare.cjs");
