#!/usr/bin/env node
require("../dist/bin/chbind.cjs");
