# boot's percentile interval endpoints (boot:::norm.inter, what lme4's confint(method = "boot") uses) and
# the row names of lme4's bootstrap intervals, for tests/test_lmm_simulate.py.
#   Rscript tools/make_boot_reference.R   (writes tests/fixtures/boot_percentile.json)
suppressMessages({library(lme4); library(boot); library(jsonlite)})
set.seed(1)
cases <- list(rnorm(57), rexp(999), as.numeric(1:9), c(rnorm(200), NA, Inf))
out <- lapply(cases, function(t) list(t = ifelse(is.finite(t), t, NA), infinite = which(is.infinite(t)) - 1,
                                      alpha = c(0.025, 0.975, 0.05, 0.95),
                                      out = suppressWarnings(boot:::norm.inter(t, c(0.025, 0.975, 0.05, 0.95))[, 2])))
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
ci <- suppressWarnings(suppressMessages(confint(m, method = "boot", nsim = 20, seed = 1)))
write_json(list(cases = out, rows = rownames(ci), cols = colnames(ci)), "tests/fixtures/boot_percentile.json",
           digits = NA, auto_unbox = FALSE)
