# One GLMM with lme4's glmer in this R process: fit REPEAT times (glmer's defaults), print JSON.
#   Rscript benchmarks/peers/glmer_worker.R DATASET FORMULA FAMILY REPEAT [NAGQ]
# DATASET: cbpp, grouseticks, VerbAgg, InstEval (lme4's own data, the same as fastmme's bundled copies; InstEval
# gets yb = y >= 4) or Contraception (mlmRev: Debian r-cran-mlmrev)
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
a <- commandArgs(trailingOnly = TRUE)
if (a[1] == "Contraception") suppressPackageStartupMessages(library(mlmRev))
df <- get(a[1])
if (a[1] == "InstEval") df$yb <- as.integer(df$y >= 4)
nagq <- if (length(a) >= 5) as.integer(a[5]) else 1L
times <- c()
for (i in seq_len(as.integer(a[4]))) {
  t0 <- proc.time()[["elapsed"]]
  fit <- glmer(as.formula(a[2]), data = df, family = get(a[3])(), nAGQ = nagq)
  times <- c(times, proc.time()[["elapsed"]] - t0)
}
cat(toJSON(list(peer = "lme4", times = times, median = median(times), minus2loglik = -2 * as.numeric(logLik(fit)),
                evals = fit@optinfo$feval), auto_unbox = TRUE, digits = NA), "\n")
