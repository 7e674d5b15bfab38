# Everyday tasks; each one delegates to dev.py, which needs nothing but Python 3.11+.
.PHONY: test lint demo services-up services-down

test:
	python3 dev.py test

lint:
	python3 dev.py lint

demo:
	python3 dev.py demo

services-up:
	.venv/bin/warmline services up

services-down:
	.venv/bin/warmline services down
