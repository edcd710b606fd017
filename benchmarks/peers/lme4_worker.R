# One problem with lme4 in this R process: read the CSV (untimed), fit REPEAT times, print JSON.
#   Rscript benchmarks/peers/lme4_worker.R DATA.csv FORMULA REPEAT CATEGORICAL_COLUMNS(comma-separated) [noderivs]
# noderivs: lmerControl(calc.derivs = FALSE), lme4's default fit without its finite-difference Hessian check
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
a <- commandArgs(trailingOnly = TRUE)
df <- read.csv(a[1])
for (c in strsplit(a[4], ",")[[1]]) if (nzchar(c)) df[[c]] <- factor(df[[c]])
times <- c()
for (i in seq_len(as.integer(a[3]))) {
  t0 <- proc.time()[["elapsed"]]
  ctrl <- if (length(a) >= 5 && a[5] == "noderivs") lmerControl(calc.derivs = FALSE) else lmerControl()
  fit <- lmer(as.formula(a[2]), data = df, REML = TRUE, control = ctrl)
  times <- c(times, proc.time()[["elapsed"]] - t0)
}
rss <- NA
st <- readLines("/proc/self/status")
hwm <- grep("^VmHWM", st, value = TRUE)
if (length(hwm)) rss <- as.numeric(gsub("[^0-9]", "", hwm)) / 1024
cat(toJSON(list(peer = "lme4", times = times, median = median(times), first = times[1],
                loglik = as.numeric(logLik(fit)), criterion = as.numeric(REMLcrit(fit)), evals = fit@optinfo$feval, peak_rss_mb = rss,
                blas = La_library()), auto_unbox = TRUE, digits = NA), "\n")
