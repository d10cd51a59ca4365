// The demo shop's own behaviour. It calls microx only for what a script cannot infer:
// which checkout step the visitor reached.
(function () {
  "use strict";
  var basket = 0;
  var spinner = document.getElementById("spinner");
  var $ = function (id) { return document.getElementById(id); };
  var step = function (name) { if (window.microx) window.microx.step("checkout", name); };

  // "Add to basket" takes a moment, as it would with a real server: a spinner shows meanwhile.
  document.querySelectorAll("button.add").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      spinner.hidden = false;
      setTimeout(function () {
        spinner.hidden = true;
        button.disabled = false;
        basket += 1;
        $("basket-count").textContent = "Basket: " + basket;
      }, 800);
    });
  });

  $("newsletter-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    ev.target.hidden = true;
    $("newsletter-done").hidden = false;
  });

  var show = function (id) {
    ["step-basket", "step-shipping", "step-payment", "step-done"].forEach(function (s) {
      $(s).hidden = s !== id;
    });
  };
  $("to-shipping").addEventListener("click", function () { show("step-shipping"); step("shipping"); });
  $("step-shipping").addEventListener("submit", function (ev) {
    ev.preventDefault();
    show("step-payment");
    step("payment");
  });
  $("step-payment").addEventListener("submit", function (ev) {
    ev.preventDefault();
    spinner.hidden = false;
    setTimeout(function () {
      spinner.hidden = true;
      show("step-done");
      step("confirmed");
    }, 600);
  });
  // Reaching the page with items to buy is the funnel's first step.
  window.addEventListener("load", function () { step("basket"); });
})();
