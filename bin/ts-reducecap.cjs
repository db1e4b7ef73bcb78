#!/usr/bin/env node
require("../dist/bin/reducecap.cjs");
