# lme4's bootMer / confint(method = "boot") and pbkrtest's Kenward–Roger summary, timed in process, for
# benchmarks/bootstrap.py.   Rscript benchmarks/peers/bootstrap_lme4.R NSIM
suppressMessages({library(lmerTest); library(pbkrtest)})
nsim <- as.integer(commandArgs(TRUE)[1])
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
invisible(bootMer(m, function(f) getME(f, "theta"), nsim = 2, seed = 0))
t <- system.time(bootMer(m, function(f) c(getME(f, "theta"), sigma(f), fixef(f)), nsim = nsim, seed = 1))[["elapsed"]]
cat("lme4 bootstrap", t, "\n")
t <- system.time(suppressMessages(confint(m, method = "boot", nsim = nsim, seed = 1)))[["elapsed"]]
cat("lme4 confint_boot", t, "\n")
m2 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
t <- system.time(summary(m2, ddf = "Kenward-Roger"))[["elapsed"]]
cat("lme4 kenward_roger", t, "\n")
