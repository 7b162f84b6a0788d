document.getElementById("app").textContent = "Porchlight";
