# make demo  : set up if needed, fit a bundled data set, print the result
# make test  : set up if needed, run the whole test suite (and check that the docs build)
SHELL := /bin/bash
PY    := .venv/bin/python
STAMP := .venv/.fastmme-installed

.PHONY: setup demo test test-long docs bench reference sweep-reference clean gallery

$(STAMP): pyproject.toml tools/setup.sh
	bash tools/setup.sh
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	.venv/bin/fastmme example insteval

test: $(STAMP)
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory docs

# The long run: the whole suite with 20 × the examples in every property and fuzz test
test-long: $(STAMP)
	FASTMME_TEST_SCALE=20 $(PY) -m pytest -q

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir build/site
	$(PY) tools/check_docs.py build/site

bench: $(STAMP)
	$(PY) benchmarks/run.py

# Regenerate the lme4 reference values and bundled data (needs R: apt-get install r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite)
reference:
	Rscript tools/make_lme4_reference.R
	Rscript tools/make_formula_reference.R
	Rscript tools/make_formula_r_reference.R

# Regenerate the lme4 verification sweep of issue 15 (also needs r-cran-mlmrev r-cran-nlme; about an hour on one
# core, most of it the two maximal 2^4 designs; SWEEP='^oats' refits only the matching models)
sweep-reference:
	OPENBLAS_NUM_THREADS=1 Rscript tools/make_sweep_reference.R '$(SWEEP)'

clean:
	rm -rf .venv build .pytest_cache .benchmarks

gallery: $(STAMP)
	$(PY) tools/make_gallery.py
