# lme4's printed summary of glmer fits, for tests/test_glmm.py's line-by-line comparison of
# GlmmFit.summary() (layout, widths, decimals, z-tests, the correlation of the fixed effects).
#
#   Rscript tools/make_glmm_summary_reference.R   (Debian: r-base-core r-cran-lme4 r-cran-jsonlite)
#
# Writes tests/fixtures/glmm_summaries.json.  The data are bound to `d`, so R prints "Data: d".
suppressMessages({library(lme4); library(jsonlite)})
ctrl <- glmerControl(tolPwrss = 1e-13, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
models <- list(
  list(name = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
       family = "binomial", link = "logit"),
  list(name = "cbpp_probit", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
       family = "binomial", link = "probit"),
  list(name = "grouseticks", formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
       data = "grouseticks", family = "poisson", link = "log"))
out <- list(lme4 = as.character(packageVersion("lme4")), summaries = list())
for (m in models) {
  d <- get(m$data)
  fam <- get(m$family)(link = m$link)
  fit <- glmer(as.formula(m$formula), data = d, family = fam, control = ctrl)
  m$out <- capture.output(print(summary(fit)))
  out$summaries[[m$name]] <- m
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/fixtures/glmm_summaries.json")
