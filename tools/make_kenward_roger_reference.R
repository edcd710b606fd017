# Kenward–Roger (pbkrtest's vcovAdj and Lb_ddf through lmerTest): summary(fit, ddf = "Kenward-Roger")'s
# coefficient table, anova(fit, ddf = "Kenward-Roger") (Type III and Type I) and the adjusted covariance of β̂, for
# tests/test_kenward_roger.py; the models of tests/fixtures/anova_type3.json that are REML fits.
#   Rscript tools/make_kenward_roger_reference.R   (writes tests/fixtures/kenward_roger.json)
suppressMessages({library(lmerTest); library(pbkrtest); library(jsonlite)})
options(width = 200)
models <- fromJSON("tests/fixtures/anova_type3.json", simplifyVector = FALSE)
extra <- list(
  list(name = "penicillin", data = as.data.frame(Penicillin), formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  list(name = "pastes", data = as.data.frame(Pastes), formula = "strength ~ 1 + (1 | batch/cask)"),
  list(name = "sleep_uncorrelated", data = as.data.frame(sleepstudy), formula = "Reaction ~ Days + (Days || Subject)"))
reml <- Filter(function(m) isTRUE(m$reml), models)
specs <- c(lapply(reml, function(m) list(name = m$name, data = as.data.frame(lapply(m$data, unlist), stringsAsFactors = TRUE),
                                         formula = m$formula)), extra)
out <- lapply(specs, function(s) {
  d <- s$data
  m <- lmer(as.formula(s$formula), d, REML = TRUE)
  cf <- summary(m, ddf = "Kenward-Roger")$coefficients
  a <- suppressMessages(anova(m, ddf = "Kenward-Roger"))
  a1 <- suppressMessages(anova(m, type = 1, ddf = "Kenward-Roger"))
  list(name = s$name, formula = s$formula, data = if (s$name %in% c("penicillin", "pastes", "sleep_uncorrelated")) NULL else d,
       dataset = if (s$name == "penicillin") "Penicillin" else if (s$name == "pastes") "Pastes" else if (s$name == "sleep_uncorrelated") "sleepstudy" else "",
       coef = list(rows = rownames(cf), cols = colnames(cf), values = unname(lapply(seq_len(ncol(cf)), function(j) unname(cf[, j])))),
       anova = list(terms = rownames(a), cols = colnames(a), values = unname(lapply(seq_len(ncol(a)), function(j) unname(a[[j]]))),
                    heading = attr(a, "heading"), out = capture.output(print(a))),
       anova1 = list(terms = rownames(a1), cols = colnames(a1), values = unname(lapply(seq_len(ncol(a1)), function(j) unname(a1[[j]]))),
                     heading = attr(a1, "heading"), out = capture.output(print(a1))),
       vcov_adj = unname(as.matrix(vcovAdj(m))), summary_out = capture.output(print(summary(m, ddf = "Kenward-Roger"))))
})
write_json(out, "tests/fixtures/kenward_roger.json", digits = NA, auto_unbox = TRUE, dataframe = "columns")
