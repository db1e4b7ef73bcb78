#!/usr/bin/env node
require("../dist/bin/nsenter.cjs");
